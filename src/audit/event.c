/* event: being written */
#include "audit/event.h"
