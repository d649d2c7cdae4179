#!/usr/bin/env bash
# Here, on a Debian 12 machine that reaches Debian's archive: download the Debian packages that
# losscape needs besides LibTorch into bench/gpu/debs/ (ignored by git), for a GPU machine that has
# CUDA, CMake, a C++ compiler and PyTorch (whose LibTorch has CUDA) but can install nothing.
# bench/gpu/device-check.sh unpacks them there with dpkg -x, without installing anything.
#
#   bench/gpu/prepare.sh      then carry bench/gpu/debs to the GPU machine (about 25 MB)
#
# The list: Open MPI and parallel HDF5 (headers, libraries, mpirun) with the run-time libraries
# they load that a CUDA/PyTorch image may lack, ARPACK with BLAS/LAPACK, and the header-only
# nlohmann-json, CLI11 and Catch2 v2. The C and C++ run-time (libc6, libstdc++6, libgcc-s1,
# zlib1g) is the machine's own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
packages=(
  # build: headers, CMake configs, compiler wrappers
  libopenmpi-dev libhdf5-openmpi-dev libarpack2-dev nlohmann-json3-dev libcli11-dev catch2
  # Open MPI 4.1 and what it loads
  libopenmpi3 openmpi-bin openmpi-common libevent-core-2.1-7 libevent-pthreads-2.1-7
  libhwloc15 libpmix2 libfabric1 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200
  libpsm2-2 libpsm-infinipath1 libnuma1 libltdl7 libudev1 libpciaccess0 libmunge2
  libatomic1 ibverbs-providers
  # parallel HDF5 1.10 and what it loads (libcurl for its read-only S3 driver)
  libhdf5-openmpi-103-1 libsz2 libaec0 libcurl4 libnghttp2-14 libpsl5 librtmp1 libssh2-1
  libldap-2.5-0 libsasl2-2 libbrotli1 libidn2-0 libunistring2 libgssapi-krb5-2 libkrb5-3
  libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libssl3 libgnutls30 libhogweed6
  libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8 libzstd1
  # ARPACK and its BLAS/LAPACK (reference implementations) and Fortran run-time
  libarpack2 libblas3 liblapack3 libgfortran5 libquadmath0
)
# Unpacked there only when the machine has no zlib headers of its own.
optional=(zlib1g zlib1g-dev)
mkdir -p "$here/debs/optional"
cd "$here/debs"
rm -f ./*.deb optional/*.deb
apt-get download "${packages[@]}"
(cd optional && apt-get download "${optional[@]}")
echo "bench/gpu/prepare.sh: $(ls ./*.deb optional/*.deb | wc -l) packages, $(du -sh . | cut -f1) in $here/debs"
