"""Facial-part detectors (``dlib68``, ``dlib68-cnn``, ``facemesh``) and the part geometry they share."""
