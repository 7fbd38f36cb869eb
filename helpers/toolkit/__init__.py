"""rknn-toolkit2 on the PC, made safe to drive from a notebook (never imported on a board).

=================  ==========================================================================
module             its one job
=================  ==========================================================================
``config``         :class:`BuildConfig`: every setting that decides what the toolkit builds
``session``        the toolkit's own calls, top to bottom (RKNN → config → load → build →
                   export_rknn → release), each failure a :class:`ToolkitError`
``isolation``      run a job in a spawned child process: the toolkit's ``exit()`` and aborts
                   never reach the notebook kernel (or in another release's interpreter)
``versions``       other rknn-toolkit2 releases beside the pinned one, each in its own environment
``jobs``           what the notebooks ask for (simulate, accuracy analysis, hybrid names, …),
                   each a child-side job and its parent-side call
``hybrid``         the hybrid-quantization config file: read its layer names, mark float16
``custom_op``      a numpy CPU operator for ``reg_custom_op``
``report``         parse ``error_analysis.txt``; rank the worst layers
``calibration``    the stratified, letterboxed calibration set and its ``dataset.txt`` checks
``logs``           the toolkit's console log: errors, distinct warnings, the layer table
``simulator``      the ``simulator`` backend of :mod:`helpers.board.runtimes` (PC only)
``adb_runtime``    the ``toolkit`` backend: rknn-toolkit2 on the PC driving a board over adb
=================  ==========================================================================
"""
