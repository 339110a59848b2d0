/* auth: being written */
#include "mgmt/auth.h"
