from setuptools import Extension, setup

setup(ext_modules=[Extension("demo_wheel", ["demo_wheel.c"])])
