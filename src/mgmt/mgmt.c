/* The management core: see mgmt.h. (stub: the lead implements) */
#include "config.h"

#include "mgmt/mgmt.h"
