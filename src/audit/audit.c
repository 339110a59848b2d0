/* audit: being written */
#include "audit/audit.h"
