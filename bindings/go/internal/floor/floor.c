#include "floor.h"

#include "_cgo_export.h"

void floor_call(void) { floorNoop(); }
