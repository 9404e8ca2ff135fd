"""Capture stage: stress transforms, skin tone (ITA), presentation-attack detection."""
