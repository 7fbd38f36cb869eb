"""Everything that runs on the board: numpy, OpenCV and the standard library only.

The deploy bundle is a verbatim copy of this folder (``bundle/rkdeploy/``), so its modules import
each other relatively and nothing outside it; PC-side code imports it, never the reverse
(a test imports every module here with torch, ultralytics, onnx and rknn blocked).

=================  ==========================================================================
module             its one job
=================  ==========================================================================
``preprocess``     letterbox and its inverse, input layouts (NCHW float / NHWC uint8)
``postprocess``    what every decoder shares: DFL, score-sum prefilter, batched NMS, ``Detections``
``decode/``        one decoder per task (``detect``, ``pose``), found by the bundle's ``"task"``
``runtimes/``      one interface over onnxruntime, RKNNLite, ncnn (one file each) and, on a PC, the
                   simulator and toolkit-over-adb (declared in ``runtimes/pc.py``, code in
                   ``helpers.toolkit``): the registry of backends
``pool``           N runtime contexts (one per NPU core), results in input order
``tiling``         large frames in overlapping tiles, merged across tile edges
``inputs``         what the runner is pointed at (image, folder, video, camera, stream), checked
``sources``        cameras and streams read on their own thread; newest frame or every frame
``rate``           who limits the frame rate, the source or the pipeline
``runner``         one run of the bundle's model over a source (``run``)
``recording``      the MP4 and each frame's outputs written whole, through Ctrl-C and SIGTERM
``cli``            the bundle's command line (``run.py``)
``records``        the readers of the ``.rknn.json`` build record and the bundle's config.json;
                   the model files' recorded sizes and SHA-256
``compare``        two runs' detections paired, with stated tolerances
``selftest``       ``run.py --selftest``: this board's stack decodes the PC's stored outputs
``targets``        the Rockchip SoCs and their NPU core counts
``draw``           detections drawn on a picture
``atomic``         atomic file writes
=================  ==========================================================================
"""
