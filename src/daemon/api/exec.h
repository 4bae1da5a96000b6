/* POST /1.0/instances/NAME/exec: LXD's exec over websockets. */
#pragma once

#include "daemon/http/http.h"
#include "daemon/instance.h"

void ferry_api_exec (FerryRequest *req, FerryInstance *inst);
