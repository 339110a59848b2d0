/* chain: being written */
#include "audit/chain.h"
