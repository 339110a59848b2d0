/* placeholder: being written */
#include "dpi/classify.h"
