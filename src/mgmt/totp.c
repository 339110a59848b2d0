/* totp: being written */
#include "mgmt/totp.h"
