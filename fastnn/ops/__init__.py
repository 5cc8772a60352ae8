"""The only layer of fastnn that calls the compiled kernels.

Each module here wraps one kernel family: it validates shapes, dtypes and contiguity, resolves the thread
count with ``fastnn._config.threads_for`` and calls ``fastnn._ext.<family>``. Nothing below this layer checks
anything, so nothing may call ``fastnn._ext`` except through here.
"""
