# Finds losscape's dependencies and defines losscape::hdf5 (parallel HDF5 only)
# and losscape_common_options(). Shared by the build and by losscapeConfig.cmake.
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)

find_package(Torch REQUIRED)
# losscape is C++17; newer LibTorch headers need more (C++20 from LibTorch 2.14). TorchConfig.cmake
# records what its headers need as the torch target's CXX_STANDARD (14 in 1.13, 20 in 2.14):
# LOSSCAPE_CXX_STANDARD is the larger of the two, required of everything that includes LibTorch.
set(LOSSCAPE_CXX_STANDARD 17)
if(TARGET torch)
  get_target_property(_losscape_torch_std torch CXX_STANDARD)
  if(_losscape_torch_std AND _losscape_torch_std GREATER LOSSCAPE_CXX_STANDARD)
    set(LOSSCAPE_CXX_STANDARD ${_losscape_torch_std})
  endif()
endif()
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(nlohmann_json 3 REQUIRED)
find_package(ZLIB REQUIRED)

set(HDF5_PREFER_PARALLEL TRUE)
if(NOT HDF5_C_COMPILER_EXECUTABLE AND EXISTS /usr/bin/h5pcc)
  set(HDF5_C_COMPILER_EXECUTABLE /usr/bin/h5pcc)
endif()
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "losscape needs a parallel (MPI-IO) HDF5 build, but the HDF5 found at "
    "'${HDF5_INCLUDE_DIRS}' is serial. On Debian: apt-get install libhdf5-openmpi-dev; "
    "elsewhere point HDF5_C_COMPILER_EXECUTABLE at the parallel h5pcc.")
endif()
if(NOT TARGET losscape::hdf5)
  add_library(losscape::hdf5 INTERFACE IMPORTED)
  set_target_properties(losscape::hdf5 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${HDF5_C_INCLUDE_DIRS};${HDF5_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${HDF5_C_LIBRARIES};MPI::MPI_C"
    INTERFACE_COMPILE_DEFINITIONS "${HDF5_C_DEFINITIONS};H5_USE_110_API")
endif()

# ARPACK (arpack-ng): the Lanczos eigensolver of the Hessian maps, through its C interface
# (arpack.h: dsaupd_c / dseupd_c). Debian installs it under include/arpack/.
find_path(LOSSCAPE_ARPACK_INCLUDE_DIR arpack.h PATH_SUFFIXES arpack arpack-ng)
find_library(LOSSCAPE_ARPACK_LIBRARY NAMES arpack)
if(NOT LOSSCAPE_ARPACK_INCLUDE_DIR OR NOT LOSSCAPE_ARPACK_LIBRARY)
  message(FATAL_ERROR
    "losscape needs ARPACK (arpack-ng) with its C interface (arpack.h with dsaupd_c), but "
    "found header='${LOSSCAPE_ARPACK_INCLUDE_DIR}' library='${LOSSCAPE_ARPACK_LIBRARY}'. "
    "On Debian: apt-get install libarpack2-dev; elsewhere set LOSSCAPE_ARPACK_INCLUDE_DIR "
    "(the directory holding arpack.h) and LOSSCAPE_ARPACK_LIBRARY.")
endif()
if(NOT TARGET losscape::arpack)
  add_library(losscape::arpack INTERFACE IMPORTED)
  set_target_properties(losscape::arpack PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${LOSSCAPE_ARPACK_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${LOSSCAPE_ARPACK_LIBRARY}")
endif()

function(losscape_common_options target)
  target_compile_features(${target} PUBLIC cxx_std_${LOSSCAPE_CXX_STANDARD})
  if(LOSSCAPE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
