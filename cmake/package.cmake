# The package: what `cmake --install` puts next to the libraries so that other builds find
# them (bridge/CMakeLists.txt installs the targets and headers themselves).
#   <libdir>/cmake/ringlite/   ringliteConfig.cmake, ringliteConfigVersion.cmake and one
#                              targets file per component (find_package(ringlite))
#   <libdir>/pkgconfig/        ringlite-core.pc, ringlite.pc (pkg-config)
# Both are relocatable: `cmake --install build --prefix DIR` works for any DIR.
if(NOT RINGLITE_INSTALL)
  return()
endif()
include(CMakePackageConfigHelpers)

set(RINGLITE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ringlite)
install(EXPORT ringlite-core-targets NAMESPACE ringlite:: DESTINATION ${RINGLITE_CMAKE_DIR})
install(EXPORT ringlite-sql-targets NAMESPACE ringlite:: DESTINATION ${RINGLITE_CMAKE_DIR})
install(EXPORT ringlite-cli-targets NAMESPACE ringlite:: DESTINATION ${RINGLITE_CMAKE_DIR})

# Static libraries export their private dependencies as $<LINK_ONLY:...>, so a user's build
# must find those packages too; shared libraries keep them to themselves. The config file
# and the .pc files are written for the kind this build makes (BUILD_SHARED_LIBS).
get_target_property(ringlite_core_type ringlite_core TYPE)
if(ringlite_core_type STREQUAL "STATIC_LIBRARY")
  set(RINGLITE_STATIC ON)
  set(RINGLITE_LIBRARY_KIND static)
else()
  set(RINGLITE_STATIC OFF)
  set(RINGLITE_LIBRARY_KIND shared)
endif()

configure_package_config_file(cmake/ringliteConfig.cmake.in ${PROJECT_BINARY_DIR}/package/ringliteConfig.cmake
  INSTALL_DESTINATION ${RINGLITE_CMAKE_DIR} NO_SET_AND_CHECK_MACRO)
# 0.x: a minor release may change the API and the ABI (the SONAME is libringlite.so.0.2), so
# a request for 0.2 accepts 0.2.x only. From 1.0 on this becomes SameMajorVersion.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/ringliteConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/ringliteConfig.cmake ${PROJECT_BINARY_DIR}/package/ringliteConfigVersion.cmake
  DESTINATION ${RINGLITE_CMAKE_DIR})

# pkg-config. The prefix is found from the .pc file's own folder, so the files stay right
# after `cmake --install --prefix` or DESTDIR staging.
function(ringlite_pc_path out dir)  # ${prefix}/DIR, or DIR when it is absolute
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()
set(pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH RINGLITE_PC_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" RINGLITE_PC_PREFIX "\${pcfiledir}/${RINGLITE_PC_PREFIX}")
ringlite_pc_path(RINGLITE_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
ringlite_pc_path(RINGLITE_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
ringlite_pc_path(RINGLITE_PC_BINDIR ${CMAKE_INSTALL_BINDIR})

# Threads is a public dependency of ringlite_core. Where the C library has pthreads (glibc
# 2.34 and later) FindThreads needs no flag; -pthread is then still right for GCC and Clang.
set(RINGLITE_PC_THREADS "${CMAKE_THREAD_LIBS_INIT}")
if(RINGLITE_PC_THREADS STREQUAL "")
  set(RINGLITE_PC_THREADS "-pthread")
endif()

# The dependencies. A static library does not carry its own, so a static install (the
# default) names them in Requires and Libs, and plain `pkg-config --cflags --libs` links;
# a shared install names them in the .private fields, for `--static` only. fmt and sqlite3
# are named by their .pc files (Debian 12: libfmt-dev, libsqlite3-dev). SQLiteCpp ships no
# .pc file, and tomlplusplus.pc would add its -DTOML_* to every user's --cflags, so those two
# are named by their libraries, as their CMake targets locate them.
function(ringlite_pc_link out target)  # "-L<dir> -l<name>" for an imported library
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")  # header-only: nothing to link
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  get_target_property(file ${target} LOCATION)
  get_filename_component(dir "${file}" DIRECTORY)
  get_filename_component(name "${file}" NAME_WE)
  string(REGEX REPLACE "^lib" "" name "${name}")
  set(${out} "-L${dir} -l${name}" PARENT_SCOPE)
endfunction()
ringlite_pc_link(sqlitecpp SQLiteCpp)
ringlite_pc_link(tomlplusplus tomlplusplus::tomlplusplus)
# SQLiteCpp's target links SQLite::SQLite3, Threads and dl; sqlite3 and Threads come from
# Requires and ringlite-core, dl from here.
string(JOIN " " sql_libs ${sqlitecpp} ${tomlplusplus})
if(CMAKE_DL_LIBS)
  string(APPEND sql_libs " -l${CMAKE_DL_LIBS}")
endif()
set(RINGLITE_PC_CORE_REQUIRES "")
set(RINGLITE_PC_CORE_REQUIRES_PRIVATE "")
set(RINGLITE_PC_SQL_REQUIRES "")
set(RINGLITE_PC_SQL_REQUIRES_PRIVATE "")
set(RINGLITE_PC_SQL_LIBS "")
set(RINGLITE_PC_SQL_LIBS_PRIVATE "")
if(RINGLITE_STATIC)
  set(RINGLITE_PC_CORE_REQUIRES "fmt")
  set(RINGLITE_PC_SQL_REQUIRES "sqlite3 fmt")
  set(RINGLITE_PC_SQL_LIBS "${sql_libs}")
else()
  set(RINGLITE_PC_CORE_REQUIRES_PRIVATE "fmt")
  set(RINGLITE_PC_SQL_REQUIRES_PRIVATE "sqlite3 fmt")
  set(RINGLITE_PC_SQL_LIBS_PRIVATE "${sql_libs}")
endif()
foreach(pc ringlite-core ringlite)
  configure_file(cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/package/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/package/${pc}.pc DESTINATION ${pc_dir})
endforeach()
