/* html_asset.c - the HTML report's page template (report_template.html:
 * CSS, the script that draws the page, and the data marker), compiled in
 * so that flightrec needs no file beside it.  The Makefile makes this
 * object depend on the template. */
#include "html_internal.h"

__asm__(".section .rodata\n"
	".global rp_template\n"
	".type rp_template, @object\n"
	"rp_template:\n"
	".incbin \"reports/report_template.html\"\n"
	".byte 0\n"
	".previous\n");
