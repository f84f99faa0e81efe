"""Face quality measures: pose from the 5 landmarks, chip sharpness."""

from __future__ import annotations

import numpy as np

from facerec.alignment import ARCFACE_112, align
from facerec.quality import chip_sharpness, face_quality, pose_from_landmarks


def test_frontal_template_has_no_yaw_and_turned_faces_do():
    frontal = ARCFACE_112.array
    eye, yaw, pitch = pose_from_landmarks(frontal)
    assert abs(yaw) < 0.05 and abs(pitch) < 0.1
    assert eye == np.linalg.norm(frontal[1] - frontal[0])
    turned = frontal.copy()
    turned[2, 0] += 14  # the nose moves toward the right eye: a head turned to the side
    _, yaw_turned, _ = pose_from_landmarks(turned)
    assert yaw_turned > 0.7
    mirrored = frontal.copy()
    mirrored[2, 0] -= 14
    assert pose_from_landmarks(mirrored)[1] < -0.7


def test_pose_is_the_same_for_a_rotated_and_scaled_face_and_batches_match_singles():
    rng = np.random.default_rng(0)
    base = ARCFACE_112.array.copy()
    base[2, 0] += 6
    out = []
    for _ in range(5):
        a, s = rng.uniform(-0.6, 0.6), rng.uniform(0.3, 4)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        pts = base @ rot.T * s + rng.uniform(-100, 100, 2)
        single = pose_from_landmarks(pts)
        out.append(pts)
        assert abs(single[1] - pose_from_landmarks(base)[1]) < 1e-9
        assert abs(single[2] - pose_from_landmarks(base)[2]) < 1e-9
    eye, yaw, pitch = pose_from_landmarks(np.stack(out))
    assert eye.shape == yaw.shape == pitch.shape == (5,)


def test_blur_lowers_sharpness_whatever_the_contrast(fr_faces):
    import cv2

    from facerec import FaceAnalyzer, Settings

    photo = fr_faces / "obama" / "obama.jpg"
    face = FaceAnalyzer(Settings()).analyze(str(photo), keep_chips=True)[0]
    sharp = chip_sharpness(face.chip)
    blurred = chip_sharpness(cv2.GaussianBlur(face.chip, (0, 0), 2.5))
    dim = chip_sharpness((face.chip.astype(np.float32) * 0.4 + 60).astype(np.uint8))
    assert blurred < 0.5 * sharp
    assert abs(dim - sharp) < 0.25 * sharp  # low contrast alone is not blur
    q = face_quality(face.landmarks, face.chip)
    assert q.eye_distance > 20 and abs(q.yaw) < 0.6 and q.sharpness == sharp
    assert np.isnan(face_quality(face.landmarks).sharpness)


def test_sharpness_of_an_aligned_flat_image_is_zero():
    flat = np.full((250, 250, 3), 128, np.uint8)
    chip = align(flat, ARCFACE_112.array + 60, ARCFACE_112)
    assert chip_sharpness(chip) == 0.0
