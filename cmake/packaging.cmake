# The Debian package: `cpack -G DEB` in a build tree writes
# parley_<version>_amd64.deb with parleyd and parley in /usr/bin, the web
# client in /usr/share/parley/web, /etc/parley/parley.toml (a conffile), the
# systemd unit, and maintainer scripts that create the `parley` system user
# and /var/lib/parley and never delete data (deploy/debian/). Binaries are
# stripped; their libraries become Depends through dpkg-shlibdeps.
include(GNUInstallDirs)

install(TARGETS parleyd parley RUNTIME DESTINATION bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/ DESTINATION share/parley/web
        PATTERN "*_test*" EXCLUDE PATTERN "node_modules" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/parley.toml DESTINATION /etc/parley)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/parleyd.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/configuration.md
        DESTINATION share/doc/parley)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME parley)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Parley maintainers <parley@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Parley real-time chat server (parleyd), its CLI and web client")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # parley_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only this tree's install rules; never the test binaries.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};ALL;/")
include(CPack)
