/* spool: being written */
#include "audit/spool.h"
