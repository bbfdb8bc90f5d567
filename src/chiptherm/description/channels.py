"""Laminar flow in the rectangular microchannels of a cavity: heat transfer and pressure drop.

A cavity layer may give its channels' geometry instead of an effective coefficient: channels
``width`` wide and as high as the layer, one every ``pitch`` across the flow. For fully
developed laminar flow in a rectangular duct of aspect ratio α = short side / long side the
Nusselt number with all four walls heated at a uniform axial flux (the H1 condition) and the
friction factor follow Shah and London's polynomials (Shah & London, *Laminar Flow Forced
Convection in Ducts*, 1978):

    Nu = 8.235 (1 - 2.0421 α + 3.0853 α² - 2.4765 α³ + 1.0578 α⁴ - 0.1861 α⁵)
    f·Re = 24 (1 - 1.3553 α + 1.9467 α² - 1.7012 α³ + 0.9564 α⁴ - 0.2537 α⁵)

(3.61 and 14.23 for a square duct, 8.235 and 24 between parallel plates). The film
coefficient is h = Nu·k/D_h with D_h = 2wH/(w + H); per unit of footprint it acts on the
wetted perimeter 2(w + H) of each pitch, so the cavity's coefficient per footprint area is
h·2(w + H)/pitch (the walls are resolved as conducting solid, so no fin efficiency enters).
The pressure drop over a channel of length L at mean velocity v is Δp = 2 (f·Re) μ v L / D_h²
(Fanning f), and pumping the flow costs Δp times the volume flow.
"""

from __future__ import annotations

LAMINAR_LIMIT = 2300.0
"""Reynolds number above which the laminar correlations no longer hold."""


def aspect_ratio(width: float, height: float) -> float:
    """Short side over long side of a rectangular channel, 0 < α <= 1."""
    return min(width, height) / max(width, height)


def laminar_nusselt(alpha: float) -> float:
    """Fully developed Nusselt number of a rectangular duct, four walls heated (H1)."""
    a = alpha
    return 8.235 * (1 - 2.0421 * a + 3.0853 * a**2 - 2.4765 * a**3 + 1.0578 * a**4 - 0.1861 * a**5)


def laminar_friction(alpha: float) -> float:
    """Fully developed f·Re (Fanning friction factor times Reynolds number)."""
    a = alpha
    return 24.0 * (1 - 1.3553 * a + 1.9467 * a**2 - 1.7012 * a**3 + 0.9564 * a**4 - 0.2537 * a**5)


def hydraulic_diameter(width: float, height: float) -> float:
    """4·area / wetted perimeter of a rectangular channel, m."""
    return 2.0 * width * height / (width + height)


def film_htc(width: float, height: float, conductivity: float) -> float:
    """The laminar film coefficient Nu·k/D_h of the walls of a channel ``width`` by ``height``
    (m) carrying a coolant of ``conductivity`` W/(m·K), W/(m²·K)."""
    nusselt = laminar_nusselt(aspect_ratio(width, height))
    return nusselt * conductivity / hydraulic_diameter(width, height)


def footprint_htc(width: float, height: float, pitch: float, conductivity: float) -> float:
    """The wall-to-coolant coefficient per footprint area of channels one ``pitch`` apart,
    W/(m²·K): the film's over the wetted perimeter 2(w + H) of each pitch."""
    return film_htc(width, height, conductivity) * 2.0 * (width + height) / pitch
