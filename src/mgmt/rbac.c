/* rbac: being written */
#include "mgmt/rbac.h"
