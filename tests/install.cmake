# Installation, pkg-config, find_package, hzrun and the .deb (tests/install/).
add_test(NAME install_package COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/test_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install_package PROPERTIES LABELS install TIMEOUT 300 RUN_SERIAL TRUE)
