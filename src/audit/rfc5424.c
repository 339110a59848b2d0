/* rfc5424: being written */
#include "audit/rfc5424.h"
