/* placeholder: being written */
#include "policy/internal.h"
