# SPDX-License-Identifier: Apache-2.0
#
# CTest driver of the incident-manager demo (cmake -DDEMO=<binary> -DMODE=<mode> -P run_demo.cmake):
#   MODE=run    runs `--duration 12s --port 0 --view plain`; passes when it exits 0, printed
#               `listening on http://127.0.0.1:<port>`, logged a transition, and its summary says
#               that nothing was lost, everything sent was delivered, and at least one breaker
#               opened and closed again
#   MODE=usage  a bad flag exits 2 with a message and the usage; --help exits 0 and names every flag

if(MODE STREQUAL "run")
  execute_process(COMMAND "${DEMO}" --duration 12s --port 0 --view plain
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the demo exited with ${rc}")
  endif()
  foreach(pattern
      "^listening on http://127\\.0\\.0\\.1:[1-9][0-9]*\n"
      "\n[0-9]+\\.[0-9]s [a-z.-]+: closed -> open\n"
      "\n== summary after [0-9.]+s\n"
      "\ncalls protected: [1-9][0-9]* "
      "\ncalls failed fast: [1-9][0-9]* "
      "\nfallbacks served: [1-9][0-9]* "
      "\nnotifications: sent [1-9][0-9]*, delivered [0-9]+, delivered late [0-9]+, lost 0\n"
      "\nbreakers that opened and closed again: [a-z]")
    if(NOT out MATCHES "${pattern}")
      message(FATAL_ERROR "the output does not match: ${pattern}")
    endif()
  endforeach()
  string(REGEX MATCH "notifications: sent ([0-9]+), delivered ([0-9]+)" _ "${out}")
  if(NOT CMAKE_MATCH_1 EQUAL CMAKE_MATCH_2)
    message(FATAL_ERROR "sent ${CMAKE_MATCH_1} notifications but delivered ${CMAKE_MATCH_2}")
  endif()
  if(out MATCHES "did not drain")
    message(FATAL_ERROR "the retry queues did not drain")
  endif()
elseif(MODE STREQUAL "usage")
  foreach(bad "--duration;0s" "--port;70000" "--view;fancy" "--no-such-flag")
    execute_process(COMMAND "${DEMO}" ${bad} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
      TIMEOUT 20)
    if(NOT rc EQUAL 2 OR NOT err MATCHES "^incident_manager: .+\n\nusage: ")
      message(FATAL_ERROR "`${bad}`: exit ${rc} (expected 2 and a message), stderr:\n${err}")
    endif()
  endforeach()
  execute_process(COMMAND "${DEMO}" --help RESULT_VARIABLE rc OUTPUT_VARIABLE out TIMEOUT 20)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "--help exited with ${rc}")
  endif()
  foreach(flag --port --duration --postgres --redis --view --seed --help timeout_duration
      minimum_request_threshold)
    if(NOT out MATCHES "${flag}")
      message(FATAL_ERROR "--help does not mention ${flag}:\n${out}")
    endif()
  endforeach()
else()
  message(FATAL_ERROR "MODE must be run or usage")
endif()
