"""Tests of the three functions and the code they share (functions/)."""
