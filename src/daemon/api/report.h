/* GET /1.0/instances/NAME/report (a Ferry extension): a tar.gz with what the
 * LXD article's bug-report section lists, gathered on this host. */
#pragma once

#include "daemon/http/http.h"
#include "daemon/instance.h"

void ferry_api_report (FerryRequest *req, FerryInstance *inst);
