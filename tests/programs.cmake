# Real programs under LD_PRELOAD: each script runs a program with and without
# the line's DSO and requires identical output (see tests/programs/common.sh).
# Each script prints "N passed, N failed" and fails if the DSO is missing or
# not actually mapped into the preloaded processes.
# Run just these with: ctest --test-dir build -L programs
# Missing tools are installed by linux/install_deps.sh (the scripts skip them).
foreach(prog python sort gcc perl coreutils)
  hz_suite_script(programs.${prog} SCRIPT programs/${prog}.sh
                  LABELS programs TIMEOUT 400)
endforeach()
