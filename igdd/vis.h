/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vis_: text from the daemon made safe to print on an operator's terminal (after OpenBSD's vis(3)).
 * Descriptions and names reach the rule table from LAN hosts (UPnP, PCP DESCRIPTION): an ESC or a CSI
 * in one would otherwise drive the terminal that runs `igdctl list` (move the cursor, rewrite the
 * screen, set the title). Pure: no I/O.
 *
 * Every C0 control (U+0000..U+001F), DEL, byte that is not well-formed UTF-8, and the backslash
 * itself is shown as \xNN (backslash as \\); C1 controls (U+0080..U+009F), bidirectional overrides and
 * isolates (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069: text that reads differently than it
 * is stored) and the line and paragraph separators (U+2028, U+2029) as \uNNNN. Everything else,
 * letters of any script among them, is copied. */
#ifndef IGDD_VIS_H
#define IGDD_VIS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define VIS_MAX_EXPANSION 4  /* output bytes per input byte at most (a byte shown as \xNN) */

/* Writes the visible form of in to out (outlen bytes, always NUL-terminated unless outlen is 0).
 * Stops before an escape that would not fit. true = all of in fitted. */
bool vis_str(const char *in, char *out, size_t outlen);

/* Replaces every string value inside j (objects and arrays, recursively) by its visible form. Object
 * keys are left alone (they are the API's own). -1 when out of memory, else 0. */
int vis_json(json_t *j);

#endif
