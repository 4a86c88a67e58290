import demo_wheel
from setuptools import Extension, setup

# Computed with the upstream wheel at build time: proves it was installed first.
setup(ext_modules=[Extension("demo_wheel_app", ["demo_wheel_app.c"], define_macros=[("ANSWER", str(demo_wheel.add(40, 2)))])])
