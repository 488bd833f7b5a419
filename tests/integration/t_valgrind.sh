#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The valgrind run of the integration suite (tests/integration/valgrind.sh): igdd under memcheck through a short
# lab scenario with restarts; fails on any valgrind error, a definite leak included.
exec bash "$(dirname "$0")/valgrind.sh" "$@"
