"""SMS-Activate's rent actions, served over SMSPVA's rental API and VAK-SMS 4-hour rents."""
