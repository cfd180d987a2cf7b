# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Draw every declared state machine of Fenix for the docs.

``tox -e statemachines`` runs this: for each machine of
:data:`fenix.common.state_machine.MACHINES` it writes ``<name>.svg`` (an
arc diagram drawn here, no Graphviz needed) and ``<name>.dot`` (for
those who prefer Graphviz) into ``doc/source/machines/``, and
``doc/source/machines.rst`` with the drawings and a table of every edge.
A unit test renders again and compares, so the docs follow the code.
"""
import argparse
import html
import os
import sys

from fenix.common import state_machine

BOX_W = 190
BOX_H = 30
ROW = 58
MARGIN = 24
FONT = 12
# Horizontal reach of an arc spanning one row, and per row more.
ARC_BASE = 34
ARC_STEP = 40
# Room for the labels beside the arcs.
LABEL_ROOM = 250


def slug(machine):
    return machine.name.replace(' ', '-').replace('_', '-')


def _edge_groups(machine):
    """{(src, dst): [event, ...]}: parallel edges share one arrow."""
    groups = {}
    for src, event, dst in machine.edges():
        groups.setdefault((src, dst), []).append(event)
    return groups


def _reach(span):
    return ARC_BASE + ARC_STEP * (span - 1)


class _Labels(object):
    """Places labels where they overlap no label placed before: a label
    that would is moved up or down a line at a time."""

    CHAR_W = 6.7

    def __init__(self):
        self.boxes = []

    def place(self, x, y, text, anchor):
        w = len(text) * self.CHAR_W
        x0 = x if anchor == 'start' else x - w
        for step in range(40):
            dy = (step + 1) // 2 * (FONT + 2) * (1 if step % 2 else -1)
            box = (x0, y + dy - FONT, x0 + w, y + dy + 2)
            if not any(box[0] < b[2] and b[0] < box[2] and
                       box[1] < b[3] and b[1] < box[3]
                       for b in self.boxes):
                self.boxes.append(box)
                return y + dy
        return y


def svg(machine):
    """An arc diagram: the states in a column in declaration order; an
    edge down the column is an arc on the right, an edge up is an arc on
    the left, each labelled with its events at its outermost point."""
    order = list(machine.states)
    row = {state: i for i, state in enumerate(order)}
    groups = _edge_groups(machine)
    spans = [abs(row[s] - row[d]) for s, d in groups if s != d] or [1]
    reach = _reach(max(spans))
    left = MARGIN + LABEL_ROOM + reach
    width = left + BOX_W + reach + LABEL_ROOM + MARGIN
    top = MARGIN + 34
    height = top + len(order) * ROW + MARGIN

    def mid(state):
        return top + row[state] * ROW + BOX_H / 2.0

    labels = _Labels()
    for state in order:
        y = top + row[state] * ROW
        labels.boxes.append((left, y, left + BOX_W, y + BOX_H))

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">'
           % (width, height, width, height, FONT),
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
           'refY="5" markerWidth="7" markerHeight="7" orient="auto">'
           '<path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="%d" font-size="15" font-weight="bold">The %s '
           'machine</text>' % (MARGIN, MARGIN + 4, html.escape(machine.name))]
    # Arcs leaving/arriving at one side of a box are spread a little so
    # that their ends do not coincide.
    for (src, dst), events in sorted(groups.items(),
                                     key=lambda kv: (row[kv[0][0]],
                                                     row[kv[0][1]])):
        label = html.escape(', '.join(events))
        y1, y2 = mid(src), mid(dst)
        if src == dst:
            x = left + BOX_W
            out.append('<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" '
                       'fill="none" stroke="#444" marker-end="url(#arrow)"/>'
                       % (x, y1 - 7, x + 26, y1 - 22, x + 26, y1 + 22,
                          x, y1 + 7))
            ly = labels.place(x + 24, y1 + 4, ', '.join(events), 'start')
            out.append('<text x="%.1f" y="%.1f" fill="#225">%s</text>'
                       % (x + 24, ly, label))
            continue
        span = abs(row[src] - row[dst])
        e = _reach(span)
        down = row[dst] > row[src]
        shift = 5 if down else -5
        if down:
            x = left + BOX_W
            cx = x + e
            anchor, lx = 'start', x + 0.75 * e + 4
        else:
            x = left
            cx = x - e
            anchor, lx = 'end', x - 0.75 * e - 4
        out.append('<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" '
                   'fill="none" stroke="#444" marker-end="url(#arrow)"/>'
                   % (x, y1 + shift, cx, y1 + shift, cx, y2 - shift, x,
                      y2 - shift))
        ly = labels.place(lx, (y1 + y2) / 2.0 + 4, ', '.join(events),
                          anchor)
        out.append('<text x="%.1f" y="%.1f" text-anchor="%s" fill="#225">'
                   '%s</text>' % (lx, ly, anchor, label))
    finals = set(machine.final_states)
    for state in order:
        y = top + row[state] * ROW
        fill = '#e8f0ff' if state == machine.initial else (
            '#e6f4e6' if state in finals else '#f6f6f6')
        out.append('<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="8" '
                   'fill="%s" stroke="#333" stroke-width="%s"/>'
                   % (left, y, BOX_W, BOX_H, fill,
                      '2.5' if state in finals else '1.2'))
        out.append('<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>'
                   % (left + BOX_W / 2.0, y + BOX_H / 2.0 + FONT / 2.5,
                      html.escape(state)))
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def dot(machine):
    lines = ['digraph "%s" {' % machine.name, '  rankdir=LR;',
             '  node [shape=box, style=rounded];',
             '  "%s" [style="rounded,filled", fillcolor="#e8f0ff"];'
             % machine.initial]
    for state in machine.final_states:
        lines.append('  "%s" [peripheries=2];' % state)
    for (src, dst), events in _edge_groups(machine).items():
        lines.append('  "%s" -> "%s" [label="%s"];'
                     % (src, dst, ', '.join(events)))
    lines.append('}')
    return '\n'.join(lines) + '\n'


def rst(machines):
    out = ['..',
           '   Written by python -m fenix_tools.machines (tox -e '
           'statemachines)',
           '   from fenix/common/state_machine.py; do not edit by hand.',
           '',
           '==============',
           'State machines',
           '==============',
           '',
           'Every state Fenix keeps follows a machine declared in',
           '``fenix/common/state_machine.py``, with named events. The '
           'database',
           'layer refuses a write that takes an edge the machine of its '
           'row does',
           'not have (an ``InvalidStepTransition``), so the drawings below '
           'are',
           'the whole truth about where a row may go. Blue: where a row '
           'starts;',
           'green, bold: states it never leaves.',
           '']
    for machine in machines:
        title = 'The %s machine' % machine.name
        out += [title, '=' * len(title), '', machine.doc, '',
                '.. image:: machines/%s.svg' % slug(machine),
                '   :alt: the %s state machine' % machine.name, '',
                '.. list-table::', '   :header-rows: 1', '',
                '   * - from', '     - event', '     - to']
        for src, event, dst in machine.edges():
            out += ['   * - ``%s``' % src, '     - ``%s``' % event,
                    '     - ``%s``' % dst]
        out.append('')
    return '\n'.join(out)


def render(machines=None):
    """{relative path: text} of every file this tool writes."""
    machines = machines or state_machine.MACHINES
    files = {'machines.rst': rst(machines)}
    for machine in machines:
        files['machines/%s.svg' % slug(machine)] = svg(machine)
        files['machines/%s.dot' % slug(machine)] = dot(machine)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--output', default=os.path.join('doc', 'source'),
                        help='the docs source directory (default: '
                             'doc/source)')
    args = parser.parse_args(argv)
    os.makedirs(os.path.join(args.output, 'machines'), exist_ok=True)
    for path, text in sorted(render().items()):
        with open(os.path.join(args.output, path), 'w') as f:
            f.write(text)
        print('wrote %s' % os.path.join(args.output, path))
    return 0


if __name__ == '__main__':
    sys.exit(main())
