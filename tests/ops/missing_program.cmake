# SPDX-License-Identifier: Apache-2.0
# cmake -DPROGRAM=<name> -DPACKAGE=<Debian package> -P missing_program.cmake: fails the test that
# needed PROGRAM (a missing tool fails, never skips).
message(FATAL_ERROR "${PROGRAM} was not found when configuring: install the Debian package ${PACKAGE} "
                    "and configure again")
