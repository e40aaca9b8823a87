#ifndef SWITCHBOARD_CHIREDIS_SHIM_H
#define SWITCHBOARD_CHIREDIS_SHIM_H
// hiredis from Debian's libhiredis-dev (0.14): RESP formatting and parsing only;
// the sockets are SwiftNIO channels.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
