"""Geometry checks on face boxes drawn over a picture, measured in the browser."""

from __future__ import annotations

LABEL_PROBLEMS = """(stage) => {
    const r = (el) => el.getBoundingClientRect();
    const cross = (a, b) => a.left < b.right - 1 && b.left < a.right - 1
        && a.top < b.bottom - 1 && b.top < a.bottom - 1;
    const area = r(stage);
    const boxes = [...stage.querySelectorAll(".face-box")];
    const labels = boxes.map((box) => box.querySelector(".face-label"));
    const problems = [];
    labels.forEach((label, i) => {
        if (!label) return;
        const own = r(label);
        if (!own.width || !own.height) problems.push(`label ${i + 1} is not shown`);
        if (own.left < area.left - 1 || own.right > area.right + 1 || own.top < area.top - 1
            || own.bottom > area.bottom + 1) problems.push(`label ${i + 1} is cut by the picture's edge`);
        if (label.scrollWidth > label.clientWidth + 1) problems.push(`label ${i + 1} is cut short`);
        boxes.forEach((box, j) => {
            if (j === i) return;
            if (cross(own, r(box))) problems.push(`label ${i + 1} covers face ${j + 1}`);
            if (labels[j] && j > i && cross(own, r(labels[j]))) problems.push(`labels ${i + 1} and ${j + 1} overlap`);
        });
    });
    return problems;
}"""
"""Everything wrong with the labels over ``stage``: cut off, hidden, covering another label or another face."""

NUMBERS = """(stage) => [...stage.querySelectorAll(".face-box")].map((box) => {
    const number = box.querySelector(".face-number");
    if (!number) return null;
    const n = number.getBoundingClientRect();
    const b = box.getBoundingClientRect();
    const visible = n.width > 0 && n.height > 0 && getComputedStyle(number).visibility !== "hidden";
    const near = n.left >= b.left - 4 && n.left <= b.right && n.bottom >= b.top - n.height - 8 && n.top <= b.bottom;
    return visible && near ? number.textContent : `not shown on its box: ${number.textContent}`;
})"""
"""The number shown on each box (in box order), or what is wrong with it."""

WIDTHS = [1280, 390]
"""A laptop and a phone (the phone as wide as the narrowest common one in portrait)."""
