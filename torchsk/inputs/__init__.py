"""The input stage: encoders (impute, scaling, categorical, bins) and the
statistics they are fitted on."""
