#ifndef FLOOR_H
#define FLOOR_H
void floor_call(void);
#endif
