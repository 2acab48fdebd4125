/* kevents.c - placeholder */
#include "triggers.h"
void kube_triggers(struct recorder *r)
{
	(void)r;
}
