/* Management sessions: see session.h. (stub: helper B implements) */
#include "config.h"

#include "mgmt/session.h"
