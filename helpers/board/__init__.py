"""Everything that runs on the board: numpy, OpenCV and the standard library only.

The deploy bundle is a verbatim copy of this folder (``bundle/rkdeploy/``), so its modules import
each other relatively and nothing outside it; PC-side code imports it, never the reverse
(a test imports every module here with torch, ultralytics, onnx and rknn blocked).

=================  ==========================================================================
module             its one job
=================  ==========================================================================
``preprocess``     letterbox and its inverse, input layouts (NCHW float / NHWC uint8)
``postprocess``    DFL decode, score-sum prefilter, batched NMS: head outputs -> detections
``runtime``        one interface over onnxruntime, RKNNLite, ncnn (and, on a PC, the simulator
                   and toolkit-over-adb from ``helpers.toolkit``, found by name)
``pool``           N runtime contexts (one per NPU core), results in input order
``tiling``         large frames in overlapping tiles, merged across tile edges
``runner``         the bundle's command-line program (``run.py``)
``sources``        images, folders, videos, V4L2 cameras and streams, read on their own thread;
                   newest frame or every frame; who limits the frame rate
``records``        the readers of the ``.rknn.json`` build record and the bundle's config.json;
                   the model files' recorded sizes and SHA-256
``pose``           the pose decoder (rknn and ncnn layouts)
``compare``        two runs' detections paired, with stated tolerances
``selftest``       ``run.py --selftest``: this board's stack decodes the PC's stored outputs
``targets``        the Rockchip SoCs and their NPU core counts
``draw``           detections drawn on a picture
``atomic``         atomic file writes
=================  ==========================================================================
"""
