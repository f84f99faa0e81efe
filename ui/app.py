"""``facerec-gui``: start the desktop application."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facerec-gui", description="facerec desktop application")
    p.add_argument("--db", help="gallery database to open (default: the one in Settings)")
    p.add_argument("--page", choices=("people", "live", "library", "settings"), default="people")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests
    return p


def create_app(argv: list[str] | None = None):
    """The QApplication with the style sheet and icon (created once)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from .resources import icon, style_sheet

    if QApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("facerec")
    app.setOrganizationName("facerec")
    app.setApplicationDisplayName("facerec")
    app.setDesktopFileName("facerec")
    app.setWindowIcon(icon("app"))
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())
    return app


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app()

    from . import prompts
    from .context import AppContext
    from .main_window import MainWindow

    from facerec.config import Settings

    settings = Settings.load()
    if args.db:
        from pathlib import Path

        from facerec.config import is_database_url

        settings.db_path = args.db if is_database_url(args.db) else Path(args.db)  # a file, or postgresql://...
    try:
        ctx = AppContext(settings)
    except Exception as exc:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(None, "facerec", f"Cannot open the gallery {settings.gallery_path}:\n{exc}")
        return 1

    def excepthook(kind, value, tb):  # an unexpected error is shown, never a silent crash
        logging.getLogger("facerec-gui").error("unexpected error", exc_info=(kind, value, tb))
        prompts.error(None, "Unexpected error", f"{kind.__name__}: {value}", "".join(traceback.format_exception(kind, value, tb)))

    sys.excepthook = excepthook
    window = MainWindow(ctx)
    window.show_page(args.page)
    window.show()
    from PySide6.QtCore import QTimer

    # first run (or a model removed since): offer to install what is missing, once the window is up
    QTimer.singleShot(0, window.offer_model_install)
    if args.quit_after:

        def report_and_close():  # what a smoke test of an install or bundle checks (packaging/build_bundle.sh)
            icon_ok = not app.windowIcon().pixmap(32, 32).isNull()  # SVG rendering: Qt's svg plugins present
            logging.getLogger("facerec-gui").info(
                "window shown: %r %dx%d, visible %s, icon rendered %s, style sheet %d chars",
                window.windowTitle(), window.width(), window.height(), window.isVisible(), icon_ok, len(app.styleSheet()),
            )
            window.close()

        QTimer.singleShot(args.quit_after, report_and_close)
    code = app.exec()
    ctx.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
