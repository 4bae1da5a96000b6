/* /1.0/instances/NAME/snapshots: stateless and stateful snapshots. */
#pragma once

#include "daemon/http/http.h"
#include "daemon/instance.h"

void ferry_api_snapshots (FerryRequest *req, FerryInstance *inst);
