/* transport: being written */
#include "audit/transport.h"
