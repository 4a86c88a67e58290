#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(ANSWER); }

static PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "The answer demo-wheel computed at build time."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "demo_wheel_app", NULL, -1, methods};

PyMODINIT_FUNC PyInit_demo_wheel_app(void) { return PyModule_Create(&module); }
