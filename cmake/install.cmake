# Installation and packaging: every built line, the public header, a pkg-config
# file and a CMake package (find_package(hakozuna) -> hakozuna::hz3, ...), the
# hzrun wrapper, docs and the man page; `cpack -G DEB` builds a .deb of it.
include(CMakePackageConfigHelpers)

install(FILES ${CMAKE_SOURCE_DIR}/include/hakozuna.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT hakozunaTargets NAMESPACE hakozuna::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hakozuna)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/hakozunaConfig.cmake.in
  ${CMAKE_BINARY_DIR}/hakozunaConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hakozuna)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/hakozunaConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/hakozunaConfig.cmake ${CMAKE_BINARY_DIR}/hakozunaConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hakozuna)

# pkg-config: `pkg-config --libs hakozuna` links the default line (the first
# of HZ_LINES); `hakozuna-<line>` names each line.
list(GET HZ_LINES 0 HZ_DEFAULT_LINE)
# Relocatable: the prefix is found from the .pc file's own place, so
# `cmake --install --prefix P` and the .deb (prefix /usr) both work.
file(RELATIVE_PATH HZ_PC_TO_PREFIX /x/${CMAKE_INSTALL_LIBDIR}/pkgconfig /x)
foreach(line IN LISTS HZ_LINES)
  set(HZ_PC_LINE ${line})
  configure_file(${CMAKE_SOURCE_DIR}/cmake/hakozuna.pc.in ${CMAKE_BINARY_DIR}/hakozuna-${line}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/hakozuna-${line}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
set(HZ_PC_LINE ${HZ_DEFAULT_LINE})
configure_file(${CMAKE_SOURCE_DIR}/cmake/hakozuna.pc.in ${CMAKE_BINARY_DIR}/hakozuna.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/hakozuna.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# hzrun finds libraries relative to itself first; the configured libdir is
# its fallback.
set(HZ_INSTALL_FULL_LIBDIR ${CMAKE_INSTALL_FULL_LIBDIR})
set(HZ_INSTALL_LIBDIR_REL ${CMAKE_INSTALL_LIBDIR})
configure_file(${CMAKE_SOURCE_DIR}/tools/hzrun.in ${CMAKE_BINARY_DIR}/bin/hzrun @ONLY)
install(PROGRAMS ${CMAKE_BINARY_DIR}/bin/hzrun DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/hzrun.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
  FILES_MATCHING PATTERN "*.md")

set(CPACK_PACKAGE_NAME hakozuna)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "hakozuna developers <hakozuna@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "hakozuna: fast LD_PRELOAD-able malloc replacements (${HZ_LINES})")
set(CPACK_PACKAGE_VENDOR "hakozuna")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.28)")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_GENERATOR DEB)
include(CPack)
