"""Plans: relief eligibility, quotes, offers, agreements, approvals and tracking."""
