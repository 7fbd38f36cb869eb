"""The deploy side on the PC: the bundle, a board over SSH or adb, live streams, 07's and 08's board sections."""
