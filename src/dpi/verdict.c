/* placeholder: being written */
#include "dpi/verdict.h"
