#!/bin/sh
echo "demo-cuda built with cuda ${DEMO_CUDA_VERSION} and $(python --version 2>&1)"
echo "CUDA_HOME=/usr/local/cuda"
