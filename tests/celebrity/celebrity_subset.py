"""What the celebrity tests' small subset holds (shared by conftest.py and the tests)."""

PEOPLE = ("Alia Bhatt", "Brad Pitt", "Courtney Cox", "Kashyap", "Marmik", "Roger Federer")
PER_PERSON = 10
SPLIT = (0.6, 0.2, 0.2)
JUNK = "._Kashyap_25_face1.jpg"
